"""The people of the demo: names, companies, titles and countries, shared by the seeded
data set (demo.lead_rows) and the storefront simulator (demo.simulation).

Companies are Microsoft's fictitious ones. Every address built from them is on a
reserved `.example` domain, so that no demo nurture email can ever reach a real inbox.
"""

import functools
import re
import unicodedata
from random import Random

FIRST_NAMES = tuple(
    "Ada Alan Grace Linus Margaret Katherine Tim Barbara Dennis Ken Radia Frances Hedy Anita "
    "Shafi Satya Amy Priya Arjun Wei Mei Hiroshi Yuki Sofia Mateo Lucía Diego Camila Javier "
    "Elena Pablo Carmen Lars Ingrid Sven Freya Jan Anna Piotr Zofia Olga Ivan Fatima Omar "
    "Aisha Youssef Chiara Marco Giulia Luca Chloé Louis Camille Hugo Emma Noah Olivia Liam "
    "Ava Ethan Mia Lucas Amara Kwame Zanele Thabo Nia Chen Jun Ananya Rohan Sipho Leila José "
    "Björn".split()
)
LAST_NAMES = tuple(
    "Smith Johnson Williams Brown Jones García Miller Davis Rodríguez Martínez Hernández "
    "López González Wilson Anderson Thomas Taylor Moore Martin Lee Thompson White Harris "
    "Clark Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores "
    "Green Adams Nelson Baker Müller Schmidt Schneider Fischer Weber Rossi Russo Ferrari "
    "Dubois Lefebvre Moreau Kowalski Nowak Jansen Visser Andersson Nilsson Tanaka Suzuki "
    "Sato Kim Park Patel Sharma Singh Okafor Mensah Dlamini Naidoo Haddad Khan Silva Santos "
    "O'Brien".split()
)
COMPANIES = (
    "Adventure Works", "Alpine Ski House", "A. Datum Corporation", "Bellows College",
    "Best For You Organics", "Blue Yonder Airlines", "City Power & Light", "Coho Winery",
    "Consolidated Messenger", "First Up Consultants", "Fourth Coffee", "Graphic Design Institute",
    "Humongous Insurance", "Lamna Healthcare", "Litware", "Lucerne Publishing",
    "Margie's Travel", "Munson's Pickles and Preserves", "Nod Publishers", "Proseware",
    "Relecloud", "School of Fine Art", "Southridge Video", "Tailspin Toys", "Tailwind Traders",
    "Trey Research", "VanArsdel", "Wide World Importers", "Wingtip Toys", "Woodgrove Bank",
    "Contoso Pharmaceuticals", "Fabrikam Residences", "Olympia", "Liberty Delightful Bakery",
)  # fmt: skip
TITLES = (
    "Chief Technology Officer", "CTO", "CIO", "Chief Data Officer", "VP of Engineering",
    "VP Sales", "Director of IT", "IT Director", "Head of Data", "Head of Cloud Platform",
    "Founder", "Owner", "IT Manager", "Solutions Architect", "Cloud Architect",
    "Enterprise Architect", "Software Engineer", "Senior Developer", "Data Analyst",
    "Data Engineer", "DevOps Engineer", "Security Engineer", "Procurement Specialist",
    "Product Manager", "Marketing Manager", "Consultant", "Student", "",
)  # fmt: skip
# (alpha-2, alpha-3, English name, calling code, weight)
COUNTRIES = (
    ("US", "USA", "United States", "1", 30), ("GB", "GBR", "United Kingdom", "44", 8),
    ("DE", "DEU", "Germany", "49", 8), ("IN", "IND", "India", "91", 8),
    ("FR", "FRA", "France", "33", 5), ("CA", "CAN", "Canada", "1", 5),
    ("AU", "AUS", "Australia", "61", 4), ("BR", "BRA", "Brazil", "55", 4),
    ("JP", "JPN", "Japan", "81", 4), ("NL", "NLD", "Netherlands", "31", 3),
    ("ES", "ESP", "Spain", "34", 3), ("IT", "ITA", "Italy", "39", 3),
    ("SE", "SWE", "Sweden", "46", 2), ("MX", "MEX", "Mexico", "52", 2),
    ("SG", "SGP", "Singapore", "65", 2), ("ZA", "ZAF", "South Africa", "27", 2),
    ("CH", "CHE", "Switzerland", "41", 2), ("PL", "POL", "Poland", "48", 2),
    ("IE", "IRL", "Ireland", "353", 1), ("AE", "ARE", "United Arab Emirates", "971", 1),
    ("KR", "KOR", "Korea, Republic of", "82", 1), ("NG", "NGA", "Nigeria", "234", 1),
)  # fmt: skip
COUNTRY_WEIGHTS = tuple(country[4] for country in COUNTRIES)
CONTACT_NOTES = (
    "We are evaluating options for about 50 seats. Please send pricing.",
    "Interested in a proof of concept next quarter.",
    "Can you integrate with our existing Dynamics 365 tenant?",
    "Looking for a partner in our region to run the rollout.",
    "Please contact me about volume licensing.",
    "",
)


@functools.cache  # names and companies come from short lists
def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters and digits only, for the parts of an email address."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", folded)


def company_domain(company: str) -> str:
    """The company's reserved `.example` domain."""
    return ascii_fold(company) + ".example"


def phone_draw(rng: Random, calling_code: str) -> str:
    """A fictitious 555 number for a little over half of the people, else no phone."""
    if rng.random() < 0.55:
        return f"+{calling_code} {rng.randint(200, 989)} 555 {rng.randint(0, 9999):04d}"
    return ""
