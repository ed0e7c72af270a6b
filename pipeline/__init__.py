"""Everything that writes into the cache: source loaders, the hub pull, the demo generator and the
`mvpbench` command line. Heavy model code lives behind optional extras."""
