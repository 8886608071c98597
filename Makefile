# The two commands of the README: `make book` (set up + build the book, quick profile) and `make test`.
# Chapter executions are cached in _build/cache (tools/build_book.py): `make book` again re-executes only what
# changed, and `make test`'s book tests (tests/test_book.py, tests/test_book_browser.py) reuse the same cache.
PY := .venv/bin/python

.PHONY: setup book test clean
setup: .venv/.installed

.venv/.installed: pyproject.toml tools/setup.sh
	bash tools/setup.sh
	touch $@

book: setup
	$(PY) tools/build_book.py --profile quick

test: setup
	$(PY) -m pytest tests && $(PY) -m pytest --nbval-lax book/

clean:
	rm -rf _build runs
