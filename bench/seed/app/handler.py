"""The seed guide's handler, as the guide writes it (the cold-start baseline of bench/run.ts; never deployed):
sentence-transformers imported and the model loaded in global scope, by path (the guide's `SentenceTransformer(
'all-MiniLM-L6-v2')` would try the hub at run time; the benchmark gives it the same local model as ours)."""
import json
import os

from sentence_transformers import SentenceTransformer

model = SentenceTransformer(os.environ["MODEL_DIR"])


def lambda_handler(event, context):
    texts = event.get("texts") or [event.get("text", "")]
    embeddings = model.encode(texts).tolist()
    return {"statusCode": 200, "body": json.dumps({"embeddings": embeddings, "count": len(embeddings)})}
