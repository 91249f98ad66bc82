"""Approximate US ZIP3 geography, built in, for generating realistic allocation problems.

Each row of :data:`REGIONS` is a run of ZIP3 prefixes (a state's, or a metro's within a large
state) with a rough centroid, a spread and a population weight, written from general knowledge
of US geography. :func:`zip3_location` places every ZIP3 of a run deterministically around its
centroid, spread over the run's radius, so nearby prefixes land in the same region.

The figures are approximate: centroids within tens of kilometres, populations to a few hundred
thousand, and some prefixes listed that the postal service does not use (or left out that it
does). They are for generating realistic test and benchmark data with no network access, never
for billing or zoning real parcels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from allocation.model import Location

#: Kilometres per degree of latitude.
KM_PER_DEGREE = 111.2
#: Steps of the plastic-number (R2) low-discrepancy sequence that spreads a run's ZIP3s.
_R2 = (0.7548776662466927, 0.5698402909980532)


@dataclass(frozen=True)
class Region:
    """ZIP3s ``first``..``last`` around one centroid, ``radius_km`` across, home to ``population``
    (millions, rough) spread evenly over its prefixes."""

    first: str
    last: str
    latitude: float
    longitude: float
    radius_km: float
    population: float
    name: str

    @property
    def zip3s(self) -> tuple[str, ...]:
        """Every prefix of the run."""
        return tuple(f"{n:03d}" for n in range(int(self.first), int(self.last) + 1))


def _r(
    first: str, last: str, lat: float, lon: float, radius: float, pop: float, name: str
) -> Region:
    return Region(first, last, lat, lon, radius, pop, name)


#: The ZIP3 runs, in prefix order, without overlaps.
REGIONS: tuple[Region, ...] = (
    _r("006", "009", 18.25, -66.40, 60, 3.2, "Puerto Rico / Virgin Islands"),
    _r("010", "013", 42.25, -72.60, 50, 0.8, "Springfield MA"),
    _r("014", "016", 42.35, -71.85, 30, 0.9, "Worcester MA"),
    _r("017", "024", 42.35, -71.15, 35, 3.6, "Boston MA"),
    _r("025", "027", 41.75, -70.70, 50, 1.0, "Southeast MA / Cape Cod"),
    _r("028", "029", 41.75, -71.45, 25, 1.1, "Rhode Island"),
    _r("030", "038", 43.20, -71.55, 70, 1.4, "New Hampshire"),
    _r("039", "049", 44.60, -69.60, 120, 1.4, "Maine"),
    _r("050", "059", 44.10, -72.70, 70, 0.65, "Vermont"),
    _r("060", "069", 41.55, -72.75, 50, 3.6, "Connecticut"),
    _r("070", "079", 40.80, -74.25, 35, 5.2, "North New Jersey"),
    _r("080", "089", 40.00, -74.60, 55, 4.1, "Central / South New Jersey"),
    _r("100", "104", 40.80, -73.93, 12, 3.4, "Manhattan / Bronx / Staten Island"),
    _r("105", "109", 41.10, -73.85, 30, 1.6, "Westchester / Rockland NY"),
    _r("110", "114", 40.69, -73.88, 12, 4.9, "Brooklyn / Queens"),
    _r("115", "119", 40.80, -73.20, 45, 2.9, "Long Island"),
    _r("120", "129", 42.30, -73.90, 90, 2.3, "Albany / Hudson Valley"),
    _r("130", "139", 42.90, -75.80, 90, 1.9, "Central New York"),
    _r("140", "149", 42.90, -77.90, 90, 2.8, "Western New York"),
    _r("150", "154", 40.44, -80.00, 45, 2.4, "Pittsburgh PA"),
    _r("155", "159", 40.40, -78.90, 60, 0.8, "Johnstown / DuBois PA"),
    _r("160", "165", 41.50, -80.00, 70, 0.9, "Northwest Pennsylvania"),
    _r("166", "168", 40.80, -78.00, 60, 0.6, "Altoona / State College PA"),
    _r("169", "178", 40.40, -76.80, 70, 2.2, "Harrisburg / Lancaster / York PA"),
    _r("179", "181", 40.62, -75.60, 35, 0.9, "Lehigh Valley PA"),
    _r("182", "188", 41.20, -75.80, 50, 1.1, "Scranton / Wilkes-Barre PA"),
    _r("189", "196", 40.10, -75.40, 40, 4.4, "Philadelphia PA"),
    _r("197", "199", 39.30, -75.55, 40, 1.0, "Delaware"),
    _r("200", "205", 38.90, -77.03, 10, 0.7, "Washington DC"),
    _r("206", "212", 39.10, -76.80, 40, 4.6, "Baltimore / Suburban MD"),
    _r("214", "219", 39.20, -76.90, 90, 1.5, "Rest of Maryland"),
    _r("220", "223", 38.85, -77.30, 30, 2.6, "Northern Virginia"),
    _r("224", "229", 38.40, -78.00, 70, 1.2, "Central Virginia"),
    _r("230", "232", 37.55, -77.45, 35, 1.3, "Richmond VA"),
    _r("233", "237", 36.85, -76.30, 35, 1.8, "Norfolk VA"),
    _r("238", "246", 37.20, -79.60, 120, 1.6, "Southwest Virginia"),
    _r("247", "268", 38.60, -80.60, 120, 1.8, "West Virginia"),
    _r("270", "274", 36.05, -79.95, 45, 1.8, "Greensboro / Winston-Salem NC"),
    _r("275", "279", 35.85, -78.60, 60, 2.8, "Raleigh / Durham NC"),
    _r("280", "282", 35.25, -80.80, 40, 2.5, "Charlotte NC"),
    _r("283", "285", 34.80, -78.30, 80, 1.6, "Eastern North Carolina"),
    _r("286", "289", 35.60, -82.00, 80, 1.6, "Western North Carolina"),
    _r("290", "299", 34.00, -81.00, 130, 5.3, "South Carolina"),
    _r("300", "303", 33.80, -84.35, 40, 5.0, "Atlanta GA"),
    _r("304", "319", 32.30, -83.30, 150, 5.9, "Rest of Georgia"),
    _r("320", "322", 30.30, -81.65, 50, 1.7, "Jacksonville FL"),
    _r("323", "325", 30.40, -85.50, 150, 1.5, "Florida Panhandle"),
    _r("326", "326", 29.65, -82.35, 50, 0.4, "Gainesville FL"),
    _r("327", "329", 28.50, -81.30, 50, 3.0, "Orlando FL"),
    _r("330", "333", 25.95, -80.25, 35, 4.8, "Miami / Fort Lauderdale FL"),
    _r("334", "334", 26.70, -80.15, 25, 1.3, "West Palm Beach FL"),
    _r("335", "338", 27.90, -82.40, 50, 3.3, "Tampa / St. Petersburg FL"),
    _r("339", "339", 26.60, -81.85, 30, 0.9, "Fort Myers FL"),
    _r("341", "342", 26.90, -82.10, 50, 1.4, "Naples / Sarasota FL"),
    _r("344", "344", 29.20, -82.10, 40, 0.5, "Ocala FL"),
    _r("346", "347", 28.45, -82.00, 70, 0.8, "Central Florida"),
    _r("349", "349", 27.40, -80.40, 30, 0.6, "Fort Pierce FL"),
    _r("350", "352", 33.50, -86.80, 50, 1.3, "Birmingham AL"),
    _r("354", "359", 34.30, -86.80, 80, 1.2, "North Alabama"),
    _r("360", "369", 31.60, -87.20, 130, 2.6, "South Alabama"),
    _r("370", "372", 36.15, -86.80, 50, 2.1, "Nashville TN"),
    _r("373", "374", 35.05, -85.30, 50, 0.7, "Chattanooga TN"),
    _r("375", "375", 35.10, -90.00, 30, 0.4, "Memphis TN"),
    _r("376", "379", 36.00, -83.80, 80, 1.7, "East Tennessee"),
    _r("380", "381", 35.12, -89.95, 30, 0.9, "Memphis TN"),
    _r("382", "385", 35.70, -87.50, 120, 1.1, "Middle / West Tennessee"),
    _r("386", "389", 34.20, -89.50, 90, 0.9, "North Mississippi"),
    _r("390", "397", 32.00, -89.50, 130, 2.0, "Central / South Mississippi"),
    _r("398", "399", 31.60, -84.20, 60, 0.2, "Southwest Georgia"),
    _r("400", "402", 38.25, -85.75, 40, 1.3, "Louisville KY"),
    _r("403", "406", 38.05, -84.50, 50, 0.9, "Lexington KY"),
    _r("407", "418", 37.30, -83.30, 100, 0.8, "Eastern Kentucky"),
    _r("420", "427", 37.20, -86.80, 130, 1.5, "Western Kentucky"),
    _r("430", "433", 40.00, -82.95, 50, 2.2, "Columbus OH"),
    _r("434", "436", 41.60, -83.60, 50, 1.0, "Toledo OH"),
    _r("437", "439", 40.10, -81.40, 60, 0.6, "Eastern Ohio"),
    _r("440", "441", 41.45, -81.70, 40, 2.1, "Cleveland OH"),
    _r("442", "443", 41.05, -81.50, 30, 1.0, "Akron OH"),
    _r("444", "445", 41.10, -80.70, 30, 0.6, "Youngstown OH"),
    _r("446", "449", 40.80, -82.00, 50, 1.0, "Canton / Mansfield OH"),
    _r("450", "452", 39.15, -84.45, 40, 1.9, "Cincinnati OH"),
    _r("453", "455", 39.80, -84.10, 40, 1.2, "Dayton OH"),
    _r("456", "459", 39.90, -83.20, 110, 0.9, "Rest of Ohio"),
    _r("460", "462", 39.80, -86.15, 50, 2.1, "Indianapolis IN"),
    _r("463", "464", 41.55, -87.30, 35, 0.8, "Gary IN"),
    _r("465", "466", 41.65, -86.20, 40, 0.6, "South Bend IN"),
    _r("467", "469", 40.90, -85.50, 60, 0.9, "Fort Wayne / Kokomo IN"),
    _r("470", "479", 39.00, -86.80, 120, 2.4, "South / West Indiana"),
    _r("480", "485", 42.55, -83.30, 50, 4.8, "Detroit / Flint MI"),
    _r("486", "487", 43.45, -84.00, 50, 0.5, "Saginaw MI"),
    _r("488", "489", 42.70, -84.60, 40, 0.6, "Lansing MI"),
    _r("490", "492", 42.25, -85.20, 50, 0.8, "Kalamazoo / Jackson MI"),
    _r("493", "495", 42.95, -85.65, 40, 1.2, "Grand Rapids MI"),
    _r("496", "499", 45.00, -85.50, 150, 0.7, "Northern Michigan"),
    _r("500", "503", 41.60, -93.60, 40, 0.8, "Des Moines IA"),
    _r("504", "516", 42.20, -94.50, 150, 1.0, "Western Iowa"),
    _r("520", "528", 41.80, -91.30, 90, 1.4, "Eastern Iowa"),
    _r("530", "534", 42.95, -88.00, 40, 2.0, "Milwaukee WI"),
    _r("535", "539", 43.10, -89.40, 60, 1.1, "Madison WI"),
    _r("540", "549", 44.50, -89.20, 130, 2.8, "Northern Wisconsin"),
    _r("550", "554", 44.97, -93.25, 40, 3.3, "Minneapolis / St. Paul MN"),
    _r("555", "567", 45.60, -94.60, 180, 2.4, "Rest of Minnesota"),
    _r("570", "577", 44.20, -99.00, 180, 0.9, "South Dakota"),
    _r("580", "588", 47.40, -100.40, 180, 0.8, "North Dakota"),
    _r("590", "599", 46.90, -110.00, 250, 1.1, "Montana"),
    _r("600", "608", 41.85, -87.85, 45, 8.5, "Chicago IL"),
    _r("609", "619", 41.00, -89.00, 110, 2.3, "Northern / Central Illinois"),
    _r("620", "629", 39.00, -89.50, 140, 2.0, "Southern Illinois"),
    _r("630", "631", 38.65, -90.35, 35, 1.9, "St. Louis MO"),
    _r("633", "639", 37.90, -90.80, 130, 1.0, "Eastern Missouri"),
    _r("640", "641", 39.05, -94.50, 40, 1.3, "Kansas City MO"),
    _r("644", "658", 38.00, -93.00, 160, 2.0, "Rest of Missouri"),
    _r("660", "662", 38.95, -94.75, 30, 0.9, "Kansas City KS"),
    _r("664", "679", 38.30, -97.50, 180, 2.0, "Rest of Kansas"),
    _r("680", "681", 41.25, -96.00, 30, 0.9, "Omaha NE"),
    _r("683", "693", 40.90, -98.80, 200, 1.1, "Rest of Nebraska"),
    _r("700", "701", 29.95, -90.10, 35, 1.3, "New Orleans LA"),
    _r("703", "708", 30.40, -91.50, 100, 2.0, "South Louisiana"),
    _r("710", "714", 32.20, -92.50, 100, 1.3, "North Louisiana"),
    _r("716", "722", 34.50, -92.60, 100, 1.5, "Little Rock / South Arkansas"),
    _r("723", "729", 35.70, -92.50, 150, 1.5, "North Arkansas"),
    _r("730", "731", 35.50, -97.50, 40, 1.4, "Oklahoma City OK"),
    _r("734", "739", 35.30, -98.50, 150, 0.5, "Western Oklahoma"),
    _r("740", "741", 36.15, -95.95, 40, 1.0, "Tulsa OK"),
    _r("743", "749", 35.50, -95.60, 120, 1.1, "Eastern Oklahoma"),
    _r("750", "753", 32.85, -96.80, 40, 5.0, "Dallas TX"),
    _r("754", "759", 32.30, -95.00, 110, 1.6, "East Texas"),
    _r("760", "762", 32.75, -97.35, 45, 2.8, "Fort Worth TX"),
    _r("763", "769", 31.80, -98.50, 170, 1.5, "Central Texas"),
    _r("770", "775", 29.80, -95.40, 50, 6.8, "Houston TX"),
    _r("776", "779", 29.90, -95.20, 150, 1.4, "Southeast Texas"),
    _r("780", "782", 29.45, -98.50, 45, 2.6, "San Antonio TX"),
    _r("783", "785", 26.90, -97.90, 120, 2.0, "South Texas"),
    _r("786", "789", 30.30, -97.75, 50, 2.5, "Austin TX"),
    _r("790", "797", 33.00, -101.50, 200, 1.4, "West Texas"),
    _r("798", "799", 31.80, -106.40, 25, 0.7, "El Paso TX"),
    _r("800", "802", 39.72, -104.95, 35, 2.5, "Denver CO"),
    _r("803", "807", 40.25, -104.90, 60, 1.4, "Boulder / Greeley CO"),
    _r("808", "809", 38.85, -104.80, 40, 0.8, "Colorado Springs CO"),
    _r("810", "816", 38.50, -106.50, 180, 1.0, "Southern / Western Colorado"),
    _r("820", "831", 42.90, -107.50, 200, 0.6, "Wyoming"),
    _r("832", "838", 43.80, -115.50, 200, 2.0, "Idaho"),
    _r("840", "847", 40.60, -111.90, 80, 3.4, "Utah"),
    _r("850", "853", 33.45, -112.05, 50, 5.0, "Phoenix AZ"),
    _r("855", "857", 32.20, -110.90, 60, 1.3, "Tucson AZ"),
    _r("859", "865", 34.80, -112.00, 180, 1.0, "Northern Arizona"),
    _r("870", "871", 35.10, -106.60, 40, 1.0, "Albuquerque NM"),
    _r("873", "884", 34.20, -106.30, 200, 1.1, "Rest of New Mexico"),
    _r("885", "885", 31.80, -106.40, 20, 0.2, "El Paso TX"),
    _r("889", "891", 36.15, -115.15, 35, 2.3, "Las Vegas NV"),
    _r("893", "898", 39.50, -119.00, 150, 0.9, "Northern Nevada"),
    _r("900", "908", 33.95, -118.25, 30, 8.0, "Los Angeles / Long Beach CA"),
    _r("910", "918", 34.15, -118.20, 40, 4.0, "Pasadena / San Fernando Valley CA"),
    _r("919", "921", 32.85, -117.00, 40, 3.3, "San Diego CA"),
    _r("922", "925", 34.00, -117.20, 70, 4.6, "Inland Empire CA"),
    _r("926", "928", 33.75, -117.85, 25, 3.2, "Orange County CA"),
    _r("930", "931", 34.30, -119.30, 60, 1.3, "Ventura / Santa Barbara CA"),
    _r("932", "935", 35.20, -118.80, 100, 1.7, "Bakersfield / Mojave CA"),
    _r("936", "938", 36.75, -119.80, 80, 1.8, "Fresno CA"),
    _r("939", "939", 36.60, -121.70, 40, 0.6, "Salinas CA"),
    _r("940", "944", 37.60, -122.30, 25, 2.4, "San Francisco / Peninsula CA"),
    _r("945", "948", 37.80, -122.10, 35, 2.8, "East Bay CA"),
    _r("949", "949", 38.10, -122.60, 40, 0.8, "North Bay CA"),
    _r("950", "951", 37.30, -121.90, 35, 2.0, "San Jose CA"),
    _r("952", "953", 37.80, -121.10, 50, 1.3, "Stockton / Modesto CA"),
    _r("954", "955", 39.20, -123.20, 120, 0.7, "North Coast CA"),
    _r("956", "958", 38.60, -121.40, 50, 2.4, "Sacramento CA"),
    _r("959", "961", 40.00, -121.60, 150, 0.9, "Northern California"),
    _r("967", "968", 21.30, -157.85, 60, 1.4, "Hawaii"),
    _r("970", "972", 45.50, -122.70, 40, 2.3, "Portland OR"),
    _r("973", "974", 44.50, -123.00, 70, 1.0, "Salem / Eugene OR"),
    _r("975", "979", 43.50, -120.50, 200, 0.9, "Southern / Eastern Oregon"),
    _r("980", "981", 47.60, -122.25, 30, 2.5, "Seattle WA"),
    _r("982", "982", 48.10, -122.20, 40, 0.9, "Everett WA"),
    _r("983", "984", 47.20, -122.50, 40, 1.2, "Tacoma WA"),
    _r("985", "986", 46.30, -122.80, 80, 1.1, "Olympia / Vancouver WA"),
    _r("988", "989", 47.00, -120.30, 100, 0.6, "Central Washington"),
    _r("990", "994", 47.20, -117.80, 130, 1.4, "Spokane / Eastern Washington"),
    _r("995", "999", 61.20, -149.90, 150, 0.7, "Alaska"),
)


@cache
def _index() -> dict[str, tuple[Region, int]]:
    found: dict[str, tuple[Region, int]] = {}
    for region in REGIONS:
        for i, zip3 in enumerate(region.zip3s):
            found[zip3] = (region, i)
    return found


def region_of(zip3: str) -> Region:
    """The run a ZIP3 belongs to.

    Raises
    ------
    KeyError
        The prefix is not in :data:`REGIONS`.
    """
    return _index()[zip3][0]


@cache
def zip3_location(zip3: str) -> Location:
    """A ZIP3's approximate place: its run's centroid moved by a fixed offset within the run's
    radius (the same prefix always lands on the same point, with its ZIP3 as postal code).

    Raises
    ------
    KeyError
        The prefix is not in :data:`REGIONS`.
    """
    region, i = _index()[zip3]
    if region.first == region.last:
        return Location(zip3, region.latitude, region.longitude)
    u = (0.5 + (i + 1) * _R2[0]) % 1.0
    v = (0.5 + (i + 1) * _R2[1]) % 1.0
    dlat = (2 * u - 1) * region.radius_km / KM_PER_DEGREE
    dlon = (
        (2 * v - 1) * region.radius_km / (KM_PER_DEGREE * math.cos(math.radians(region.latitude)))
    )
    latitude = max(-90.0, min(90.0, region.latitude + dlat))
    longitude = (region.longitude + dlon + 180.0) % 360.0 - 180.0
    return Location(zip3, round(latitude, 4), round(longitude, 4))


@cache
def zip3_weights() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Every ZIP3 in use, in order, and its share of the population (the shares sum to 1): each
    run's population split evenly over its prefixes."""
    total = sum(r.population for r in REGIONS)
    zips: list[str] = []
    shares: list[float] = []
    for region in REGIONS:
        prefixes = region.zip3s
        for zip3 in prefixes:
            zips.append(zip3)
            shares.append(region.population / len(prefixes) / total)
    return tuple(zips), tuple(shares)
