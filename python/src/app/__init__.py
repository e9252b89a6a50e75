"""The ML Lambda function: sentence embeddings and HDBSCAN clustering (handler: app.handler.lambda_handler)."""
