"""What the tests run against: the fake Discord, the Chroma and LLM servers, the bot's stack and
the answerers' shared passages. Imported by tests, conftest and benches; no tests here."""
