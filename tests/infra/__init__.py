"""Offline checks of the infrastructure code: Terraform, the Dockerfile, the CI/CD workflows."""
