"""``hotfix demo``: scripted hotfix stories played through the real daemon and workers, told as a page.

- ``story`` / ``stories``: what a story is, and the five Herald tells;
- ``stage``: the settings and Redis it plays on (embedded when nothing is configured);
- ``clock``: the compressed story clock; ``player``: plays a story through the pipeline;
- ``capture``: what each recipient saw; ``page``: the HTML story page; ``terminal``: the live view;
- ``command``: the Typer command (registered by ``herald.cli``).
"""
