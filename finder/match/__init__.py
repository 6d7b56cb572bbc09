"""From hash rows to matching file pairs: rules, the tiled search on any executor, view rules, layout check.

``search`` holds the matching rules (thresholds, votes) and the search over blocks of files;
``layout`` the second look at matches near the threshold; ``dask_search`` runs the same blocks as
tiles on a Dask cluster.
"""
