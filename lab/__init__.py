"""The lab: simulators, ceilings, baselines and benches that prove the product. The product packages (features,
recsys, imagegen, service) never import it; its commands join `tailorcard` through the entry-point group
`tailorcard.commands` (pyproject.toml)."""
