"""The authoring loop: the watcher, the HTTP preview, live reload."""
