"""HTTP resources, one blueprint per module; each view parses its input, calls one use case (a plain service
module: service.cards, service.catalogue_changes, ...) and shapes JSON; domain errors become HTTP by type
(service.errors). No view touches the database or the repository (tests/test_house.py checks)."""
