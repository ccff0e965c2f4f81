"""The application's small core: pieces every part of ``bench`` shares (provenance and
fingerprints, JSON files, the resumable output folder, Markdown tables, figure saving).

It imports nothing else of ``bench`` (a contract in ``pyproject.toml``), so any room of the
application can use it without an import circle.
"""
