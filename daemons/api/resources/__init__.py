"""HTTP resources of the Compute API, one module per resource (servers, flavors, os-services, ...)."""
