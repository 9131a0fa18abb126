"""Adopting the tenants the seed's Go control plane provisioned: rules (`plan`), the live server (`server`), the run."""
