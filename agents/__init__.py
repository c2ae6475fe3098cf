"""Offline agents (TD3-BC, BCQ, CQL) and the CSR world-model agent."""
