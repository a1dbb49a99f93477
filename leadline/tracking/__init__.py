"""Sessions, events, visitors, click ids, engagement and the browser tracker scripts."""
