# Immutable tags: a tag deployed by the platform chart can never be repointed
# to other bytes; scanning on push reports CVEs of every published image.
resource "aws_ecr_repository" "proxy" {
  name                 = module.naming.proxy_repository_name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.ecr_force_delete

  image_scanning_configuration {
    scan_on_push = true
  }
}

resource "aws_ecr_repository" "init" {
  name                 = module.naming.init_repository_name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.ecr_force_delete

  image_scanning_configuration {
    scan_on_push = true
  }
}
