"""Network parts shared by the methods: backbone trunk, two-scale pyramid, scoring heads."""
