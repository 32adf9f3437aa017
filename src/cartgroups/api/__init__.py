"""HTTP: the 3dcart wire format, authentication, and every response's shape."""
