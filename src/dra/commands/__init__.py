"""One module per stage command: configure(parser) and run(args)."""
