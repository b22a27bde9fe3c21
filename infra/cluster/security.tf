# VPC Lattice reaches the pods (IP targets) from its data plane addresses,
# published as AWS-managed prefix lists. Both families are allowed so the
# targets stay reachable whether Lattice connects over IPv4 or IPv6.
data "aws_ec2_managed_prefix_list" "lattice_ipv4" {
  name = module.naming.lattice_prefix_list_names.ipv4
}

data "aws_ec2_managed_prefix_list" "lattice_ipv6" {
  name = module.naming.lattice_prefix_list_names.ipv6
}

resource "aws_vpc_security_group_ingress_rule" "lattice_ipv4" {
  description       = "VPC Lattice data plane (IPv4) to pods"
  security_group_id = module.eks.node_security_group_id
  prefix_list_id    = data.aws_ec2_managed_prefix_list.lattice_ipv4.id
  ip_protocol       = "-1"
}

resource "aws_vpc_security_group_ingress_rule" "lattice_ipv6" {
  description       = "VPC Lattice data plane (IPv6) to pods"
  security_group_id = module.eks.node_security_group_id
  prefix_list_id    = data.aws_ec2_managed_prefix_list.lattice_ipv6.id
  ip_protocol       = "-1"
}
