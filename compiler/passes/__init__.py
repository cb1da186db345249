"""Per-target pass pipelines, as named phases; one pass per file where Ember writes its own."""
