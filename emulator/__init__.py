"""A local stand-in for Azure (ARM) and the on-prem datacenter, spoken to by the real SDK clients over HTTPS."""
