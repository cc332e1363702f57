"""Text geolocation of posts: normalise, recognise place names, resolve them against the gazetteer, geocode."""
