"""HTTP resources, one blueprint per module; each parses input, calls the domain, shapes JSON."""
