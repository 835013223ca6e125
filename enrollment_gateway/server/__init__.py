"""Server assembly: the aiohttp application, its listeners, logging and first-start set-up."""
