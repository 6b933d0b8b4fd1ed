"""The `so8t` command line (top layer): one module per command group, thin over the library."""
