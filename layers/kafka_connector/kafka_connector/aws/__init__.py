"""AWS plumbing shared by every function: one client factory, one way to read an error."""
