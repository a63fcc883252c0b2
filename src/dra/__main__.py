from dra.cli import main

raise SystemExit(main())
