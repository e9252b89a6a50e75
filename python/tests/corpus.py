"""Fixed texts for the parity tests and the benchmark (bench/ imports this module too).

SENTENCES: what real callers send (short questions, sentences, paragraphs) plus the edges where a tokenizer or
pooling mistake shows: casing, accents, CJK, emoji, whitespace, punctuation only, and texts past 128 word pieces
(all-MiniLM-L6-v2's tokenizer.json truncates at 128, sentence-transformers at 256: the backend must follow the
latter) and past 256.

RETRIEVAL: queries with the one document each should find nearest, among documents of several topics.
"""
from __future__ import annotations

LONG_PARAGRAPH = (
    "AWS Lambda runs code without provisioning or managing servers. A function is packaged either as a zip file "
    "with optional layers, limited to 262,144,000 bytes unzipped, or as a container image of up to ten gigabytes. "
    "Memory can be set between 128 and 10,240 megabytes, and the CPU share grows with it: at 1,769 megabytes a "
    "function has the equivalent of one full vCPU. Cold starts happen when a new execution environment is "
    "created; the initialization code outside the handler runs once and is reused by later invocations. "
)

SENTENCES = [
    "A man is playing a guitar.",
    "Someone is strumming a guitar on the street.",
    "The stock market fell sharply today after the earnings report.",
    "How do I reset my password?",
    "I forgot my password and need to change it.",
    "The cat is sleeping on the sofa.",
    "A kitten naps on the couch in the afternoon sun.",
    "The flight was delayed by three hours because of the storm.",
    "Simmer the tomato sauce for twenty minutes before adding basil.",
    "The telescope captured images of a distant spiral galaxy.",
    "The striker scored twice in the second half of the match.",
    "Deploy the service behind a load balancer and cache the results.",
    "Interest rates will rise next quarter, the central bank said.",
    "Penguins live in the southern hemisphere.",
    "What is the capital of France?",
    "Paris is the capital and largest city of France.",
    "hello",
    "ok",
    "HOW DO I RESET MY PASSWORD",
    "   leading and trailing whitespace   ",
    "tabs\tand\nnewlines\r\ninside",
    "émigré café naïve résumé coöperate",
    "Straße und Größe sind deutsche Wörter.",
    "東京は日本の首都です。",
    "Я люблю машинное обучение.",
    "I love it 😀🚀🔥",
    "?!...,,;;",
    "e-mail: someone@example.com, url: https://example.com/a?b=c",
    "1234567890 3.14159 2026-11-27",
    LONG_PARAGRAPH,
    LONG_PARAGRAPH * 3,  # well past 256 word pieces: truncated at 256
    " ".join(["token"] * 200),  # between 128 and 256 word pieces
]

RETRIEVAL_DOCS = {
    "password": "To reset your password, open the account settings and choose 'forgot password'.",
    "refund": "Refunds are issued to the original payment method within five business days.",
    "shipping": "Orders ship within two days and arrive in three to five days by standard delivery.",
    "python": "Python is a programming language that emphasizes readability and has a large standard library.",
    "lambda": "AWS Lambda runs your code in response to events and bills only for the compute time used.",
    "football": "The home team won the football match with a goal in the last minute.",
    "recipe": "Bake the bread at 220 degrees for thirty minutes until the crust is golden.",
    "weather": "Heavy rain and strong winds are expected across the coast tomorrow.",
    "astronomy": "Jupiter is the largest planet in the solar system and has dozens of moons.",
    "medicine": "Take the medication twice a day with food and drink plenty of water.",
}

RETRIEVAL_QUERIES = {
    "I can't log in, how do I change my password?": "password",
    "When will I get my money back?": "refund",
    "How long does delivery take?": "shipping",
    "Which programming language is easy to read?": "python",
    "serverless functions billed per millisecond": "lambda",
    "Who won the soccer game?": "football",
    "How long should the loaf stay in the oven?": "recipe",
    "Will it storm tomorrow?": "weather",
    "What is the biggest planet?": "astronomy",
    "How often should I take my pills?": "medicine",
}

# A labelled set for clustering: the benchmark reports the adjusted Rand index of the function's clustering against
# scikit-learn's default and against these labels.
CLUSTER_TOPICS = {
    "weather": [
        "Heavy rain is expected across the coast tomorrow.", "A heat wave will push temperatures above forty degrees.",
        "Snow closed the mountain roads overnight.", "The forecast says sunny skies all weekend.",
        "Strong winds knocked down trees in the storm.", "Fog delayed flights at the airport this morning.",
        "A hurricane is forming over the warm ocean.", "Hail damaged cars during the afternoon thunderstorm.",
    ],
    "programming": [
        "The function returns a list of integers.", "Fix the null pointer exception in the parser.",
        "Write unit tests before refactoring the module.", "The compiler reports a type error on line twelve.",
        "Use a hash map to look up users by id.", "The loop never terminates because the index is not updated.",
        "Merge the pull request after the review passes.", "Profile the code to find the slow database query.",
    ],
    "cooking": [
        "Simmer the sauce for twenty minutes.", "Knead the dough until it is smooth and elastic.",
        "Roast the vegetables with olive oil and garlic.", "Whisk the eggs with sugar for the sponge cake.",
        "Season the steak with salt before grilling it.", "Chop the onions finely and fry them in butter.",
        "Bake the bread until the crust is golden.", "Marinate the chicken overnight in yogurt and spices.",
    ],
    "music": [
        "The orchestra played a symphony by Beethoven.", "She practices the piano for two hours every day.",
        "The band released a new album last week.", "The guitarist tuned his strings before the concert.",
        "The choir sang in four-part harmony.", "Tickets for the jazz festival sold out quickly.",
        "The drummer kept a steady rhythm all night.", "He composed a song for his friend's wedding.",
    ],
}


# Synthetic embeddings for the clustering tests and the benchmark (bench/py/cluster.py).
def blobs(n: int, dim: int, k: int, spread: float, seed: int, noise: float = 0.1) -> tuple["np.ndarray", "np.ndarray"]:
    """k clusters around random unit directions, plus a share of uniform noise, all on the unit sphere (like
    embeddings)."""
    import numpy as np  # here, so importing the texts does not load numpy

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    truth = rng.integers(0, k, n)
    x = centers[truth] + rng.normal(scale=spread, size=(n, dim))
    m = int(n * noise)
    x[:m] = rng.normal(size=(m, dim))
    truth[:m] = -1
    return x / np.linalg.norm(x, axis=1, keepdims=True), truth
