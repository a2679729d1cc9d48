from unipost.cli import main

raise SystemExit(main())
