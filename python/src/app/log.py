"""The function's one powertools Logger: structured JSON lines with the request id once a handler is decorated.

Every module logs through this instance (rather than `Logger(child=True)`, whose service name must match the
parent's to attach), so init-time records such as "model loaded" share the same format and service name.
"""
import os

from aws_lambda_powertools import Logger

# POWERTOOLS_SERVICE_NAME overrides the service name; POWERTOOLS_LOG_LEVEL the level (default INFO).
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "ml-lambda"))
