// Levenberg-Marquardt for small nonlinear least-squares problems (a handful of parameters,
// thousands of residuals), on Eigen. The Jacobian is taken by central differences.
#pragma once

#include <functional>

#include <Eigen/Dense>

namespace servesim::fit {

struct LeastSquaresResult {
  Eigen::VectorXd x;
  double cost = 0.0;  // half the sum of squared residuals at x
  int iterations = 0;
  bool converged = false;
};

// Minimizes 0.5 |r(x)|^2 where `residuals(x, r)` fills r (size m) for parameters x.
LeastSquaresResult levenberg_marquardt(
    const std::function<void(const Eigen::VectorXd&, Eigen::VectorXd&)>& residuals,
    Eigen::VectorXd x0, Eigen::Index m, int max_iterations = 200);

}  // namespace servesim::fit
