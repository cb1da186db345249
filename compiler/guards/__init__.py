"""What the run-time guards check: operators' shape requirements, gather/scatter indices."""
