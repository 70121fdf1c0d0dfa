"""Object stores: one interface (base.py), adapters for S3 (boto3) and a local directory."""
