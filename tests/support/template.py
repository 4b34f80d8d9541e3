"""Facts about template.yaml that several test modules check."""

#: The network-interface permissions Lambda's pollers need in a VPC (Lambda's self-managed Kafka guide).
EVENT_SOURCE_VPC_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
}
