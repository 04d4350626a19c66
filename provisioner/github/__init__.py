"""The GitHub Action's side of the tool (``action.yml``, docs/ci.md).

``python -m provisioner.github`` is the action's one step: it runs the CLI,
writes the job summary and the outputs, and keeps one plan comment per spec
file on a pull request, through the GitHub REST API (:mod:`.api`). Shell, like
``cli/``: it imports the core, never the other way round.
"""
