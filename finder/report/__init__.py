"""Reports for people: a self-contained HTML page of the groups (thumbnails, facts, the keeper).

:mod:`finder.report.thumbs` makes the small JPEG thumbnails (and reads each
file's facts in the same pass) in the hashing process pool;
:mod:`finder.report.page` writes the page with the standard library only.
"""
