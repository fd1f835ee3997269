"""Words the generators build values from (several scripts, so non-ASCII text is routine),
and the small value makers they share."""

from __future__ import annotations

import random
from datetime import date

TITLE_WORDS = [
    "Night", "River", "Silent", "Golden", "Last", "Winter", "Broken", "Hidden", "Paper", "Glass",
    "Amélie", "Ångström", "Señor", "Größe", "Čech", "Île", "Łódź", "Café", "Noël", "São",
    "夜", "東京", "千と千尋", "Москва", "Ночь", "Λύκος", "القمر", "सपना", "서울", "🎬",
]  # fmt: skip
GENRES = [
    "Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "Western",
]  # fmt: skip
LANGUAGES = ["en", "fr", "de", "es", "it", "ja", "ko", "ru", "zh", "ar", "hi", "pt", "pl", "el"]
COUNTRIES = ["US", "GB", "FR", "DE", "ES", "IT", "JP", "KR", "BR", "IN", "PL", "GR", "EG", "MX", "CA"]
NETWORKS = ["HBO", "BBC One", "ARTE", "NHK", "Netflix", "ZDF", "RAI 1", "TVE", "Canal+", "Globo"]
FIRST_NAMES = [
    "Anna", "Émile", "Zoë", "Łukasz", "Søren", "José", "Mathéo", "Ines", "Noah", "Olga",
    "Юлия", "Δημήτρης", "陽翔", "さくら", "민준", "Aarav", "Fatima", "Chloé", "Björn", "Ana",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Dubois", "Schröder", "García", "Rossi", "Nowak", "Jensen", "Silva", "Öztürk",
    "Иванова", "Παπαδόπουλος", "佐藤", "김", "Sharma", "Haddad", "O'Brien", "Van der Berg",
]  # fmt: skip
CITIES = ["Paris", "München", "Kraków", "São Paulo", "Zürich", "Tōkyō", "Αθήνα", "Montréal", "Cairo"]
STREETS = ["Rue de la Paix", "Hauptstraße", "ul. Długa", "Calle Mayor", "Via Roma", "Main Street"]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net"]
INTERESTS = ["movies", "series", "sports", "music", "news", "kids", "documentaries", "anime"]


def title(rng: random.Random) -> str:
    return " ".join(rng.sample(TITLE_WORDS, rng.randint(1, 3)))


def random_date(rng: random.Random, first_year: int, last_year: int) -> date:
    first, last = date(first_year, 1, 1).toordinal(), date(last_year, 12, 31).toordinal()
    return date.fromordinal(rng.randint(first, last))
