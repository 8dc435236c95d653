"""Adapters: the only modules that touch boto3 / awswrangler. Everything else receives them."""
