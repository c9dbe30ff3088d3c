from bench.render.runner import main

raise SystemExit(main())
