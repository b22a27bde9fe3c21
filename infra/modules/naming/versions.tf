terraform {
  # 1.6 is the first release with `terraform test`; this module declares no
  # provider on purpose so its tests run anywhere, without cloud credentials.
  required_version = ">= 1.6.0"
}
