"""Acting on duplicates: move, trash, link or delete them — planned, journaled, undoable.

The rules that make it impossible to lose a photo:

* **Dry run first.**  :func:`finder.dedupe.plan.plan` only looks; nothing is changed until
  :func:`finder.dedupe.run.apply` is called (``finder dedupe --apply``).
* **Never the keeper, never a reference image, never the last copy.**  Only
  members :func:`finder.groups.keep.proposed` offers are acted on, and only while
  their group's keeper is there, unchanged: a group whose keeper is missing or
  changed is left alone entirely.  A file that is the keeper's (or a
  reference image's) very file — a hard link, same device and inode now — is
  not a duplicate.
* **Only what was hashed.**  A file whose size or mtime differs from the
  hash file's record is refused (hash it again first); every file is checked
  again just before it is touched.
* **A journal before and after every action.**  An ``intent`` record
  (fsynced) before, a ``done`` record (fsynced) after, in a JSON-lines file.
  A run killed at any point is continued by running it again with the same
  journal (:func:`finder.dedupe.run.resume` finishes or redoes the step in flight, then the
  plan skips what is done), and :func:`finder.dedupe.run.undo` reverses everything done so far,
  in reverse order, including a step caught half-way.
* **Nothing is overwritten.**  A move never replaces a file at its
  destination (hard link + unlink on one filesystem, copy + link across
  filesystems); a restore never replaces a file at the original path.

Actions: ``move`` (to ``--to DIR``, keeping the folder structure below the
groups' common folder), ``trash`` (the desktop trash, ``send2trash``),
``hardlink`` / ``symlink`` (the duplicate's path becomes a link to the keeper;
the duplicate itself is moved to ``--to`` or the trash, so undo can restore
it), and ``delete`` (irreversible: undo cannot bring a deleted file back).

Modules: ``plan`` (the dry run: steps, kept, refused), ``fileops`` (one file put away and back),
``journal`` (the JSON-lines record and its history), ``run`` (apply, resume, undo, and the
sessions ``finder dedupe`` runs), ``trash`` (the desktop trash).
"""

#: What dedupe can do with a duplicate (kept here, free of imports, for the command line's choices).
ACTIONS = ("move", "trash", "hardlink", "symlink", "delete")
