"""What an image shows, in the words coordinators use: ImageNet classes grouped into scene cues that make an image
easier to geolocate (landmarks, storefronts, street signs, road scenes, buildings, bridges and waterfronts) or
harder (open nature, water, sky, smoke plumes, animals and plants, people, interiors, close-ups, textures such as
featureless aerial views).

The groups were written from those cues before looking at any labelled image; each ImageNet class is in at most one
group. They explain an estimate (the dashboard and admin show an image's strongest cues); the estimate itself comes
from a linear head on the whole embedding, which measured better than these groups alone (README).
"""

import numpy as np

EASIER = "easier"
HARDER = "harder"

# ImageNet-1k class indices (timm's order).
SCENE_GROUPS: dict[str, tuple[str, tuple[int, ...]]] = {
    "landmark": (EASIER, (437, 442, 483, 497, 538, 562, 649, 663, 668, 682, 698, 727, 832, 863, 873, 900, 458, 708,
                          755, 500, 557, 743, 624)),
    "storefront": (EASIER, (415, 424, 454, 467, 498, 509, 582, 762, 788, 860, 865, 480, 571, 707, 637)),
    "street_sign": (EASIER, (919, 920, 704, 781, 640)),
    "road_scene": (EASIER, (829, 874, 468, 734, 779, 654, 569, 555, 407, 627, 675, 864, 867, 656, 717, 436, 511, 817,
                            661, 609, 670, 665, 612, 603, 444, 870, 757, 705, 547, 820, 466, 565, 703, 412, 475, 479,
                            581, 803)),
    "building": (EASIER, (425, 660, 853, 858, 706, 716, 489, 825, 912, 421, 580, 634, 449, 517, 877, 915, 799)),
    "bridge_or_waterfront": (EASIER, (839, 821, 888, 718, 536, 460, 525, 540, 510, 628, 554, 576)),
    "open_nature": (HARDER, (970, 972, 979, 958, 984, 998, 672)),
    "water": (HARDER, (978, 975, 977, 973, 472, 484, 871, 914, 780, 814, 693, 625, 913, 833, 724, 403, 801, 983, 842,
                       445, 639, 694)),
    "sky": (HARDER, (404, 405, 417, 701, 895, 908, 812, 657)),
    "smoke_plume": (HARDER, (980, 974)),
    "animal_or_plant": (HARDER, (*range(0, 398), *range(985, 998), 738)),
    "people": (HARDER, (981, 982, 400, 399, 411, 474, 578, 608, 610, 614, 617, 652, 655, 697, 834, 841, 869, 887, 903,
                        457, 906, 451, 452, 515, 808, 439, 836, 837, 643, 796, 570, 629, 551, 679, 678, 691, 433, 568,
                        735, 501, 552, 824, 775, 459, 638)),
    "interior": (HARDER, (453, 493, 495, 526, 532, 548, 553, 559, 564, 598, 619, 736, 750, 765, 831, 846, 857, 894,
                          423, 516, 520, 431, 760, 651, 827, 534, 897, 435, 861, 896, 794, 905, 854, 819, 406, 884,
                          687, 579, 881, 892, 409, 753, 811, 545, 664, 782, 851, 527, 620, 681, 508, 742, 713, 556,
                          539)),
    "close_up_object": (HARDER, (*range(923, 958), *range(959, 970), 440, 441, 504, 907, 898, 737, 572, 849, 487,
                                 590, 605, 418, 563, 749, 626, 644, 772, 783, 677, 464, 455, 695, 507, 531, 893,
                                 748, 446, 549, 921, 917, 918, 922)),
    "texture_or_aerial": (HARDER, (971, 646, 599, 885, 911, 815, 669, 506, 611, 490, 904, 741, 916)),
}  # fmt: skip

CUE_MIN_SHARE = 0.05  # a cue is worth showing when its classes hold at least this much probability


def scene_shares(probabilities: np.ndarray) -> np.ndarray:
    """(images, groups) probability mass of each group's classes, in SCENE_GROUPS order."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return np.stack([probabilities[:, list(indices)].sum(1) for _, indices in SCENE_GROUPS.values()], axis=1)


def scene_cues(shares: np.ndarray, *, top: int = 3) -> list[dict]:
    """The strongest cues of one image (a row of scene_shares), e.g. {"cue": "landmark", "share": 0.41, "makes":
    "easier"}."""
    names = list(SCENE_GROUPS)
    order = np.argsort(-shares)[:top]
    return [
        {"cue": names[i], "share": round(float(shares[i]), 3), "makes": SCENE_GROUPS[names[i]][0]}
        for i in order
        if shares[i] >= CUE_MIN_SHARE
    ]
