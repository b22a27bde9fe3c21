# A private hosted zone cannot exist without a VPC association. The cluster
# VPCs are created later by another stack, so the zone is born attached to
# this placeholder VPC (no subnets, no cost) and the cluster stacks add their
# own associations.
resource "aws_vpc" "zone_anchor" {
  cidr_block = "10.255.0.0/16"

  tags = {
    Name = "${var.name_prefix}-zone-anchor"
  }
}

resource "aws_route53_zone" "private" {
  name          = var.domain
  comment       = "Private zone of the VPC Lattice demo services; records written by ExternalDNS."
  force_destroy = true

  vpc {
    vpc_id = aws_vpc.zone_anchor.id
  }

  # The cluster stacks own their aws_route53_zone_association; without this
  # every apply here would remove them again.
  lifecycle {
    ignore_changes = [vpc]
  }
}
