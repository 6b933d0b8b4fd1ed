"""The local console: a web workspace on 127.0.0.1 that needs no tokens (the default of `so8t serve`)."""
