"""Which regions offer the resource types the stack creates only where they exist.

The stack is environment-agnostic (the region is a pseudo parameter at deploy), so the template itself decides,
with a CloudFormation condition on ``AWS::Region`` (see :func:`infra.components.storage.timestream_condition`).
The list is CloudFormation's own: the regions whose published resource specification has both Timestream for
LiveAnalytics types. cfn-lint ships those specifications per region; tests/infra/test_regions.py fails when
this list and cfn-lint's disagree (after a cfn-lint upgrade, copy its list here).
"""

from __future__ import annotations

# AWS::Timestream::Database and AWS::Timestream::Table (cfn-lint 1.58's specifications)
TIMESTREAM_REGIONS = (
    "ap-northeast-1",
    "ap-south-1",
    "ap-southeast-2",
    "eu-central-1",
    "eu-isoe-west-1",
    "eu-west-1",
    "eusc-de-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-west-2",
)
