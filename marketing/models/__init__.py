"""Marketing models, one module per concern; everything is importable from here."""

from marketing.models.access import MarketingAccess  # noqa: F401
from marketing.models.campaigns import (  # noqa: F401
    Campaign,
    CampaignMember,
    CostLine,
    Invitation,
    Response,
)
from marketing.models.club import (  # noqa: F401
    ClubLevel,
    ClubMember,
    PointEntry,
    PointRule,
)
from marketing.models.partners import (  # noqa: F401
    Broker,
    ChannelPartner,
    Commission,
    PartnerRegistration,
)
from marketing.models.referrals import (  # noqa: F401
    Recommendation,
    Referral,
    ReferralReward,
    ReferralRule,
)
from marketing.models.segments import Segment  # noqa: F401
