"""The gateway's pure parts: tool definitions, argument parsing, outputs, texts, transcript."""
