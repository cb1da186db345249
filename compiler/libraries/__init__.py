"""The vendor libraries Ember's kernel plugins call, as the compiler sees them."""
