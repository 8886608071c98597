"""What each chapter prints, one module per chapter: its tables and sentences, assembled from the analysis,
studies and report functions and tested, so that a notebook holds prose, parameters and calls (issue 30).
"""
